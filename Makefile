# One command each: `make lab` for students, `make test` for maintainers,
# `make autograde` / `make formgrader` / `make grade-demo` for instructors. Every target creates
# .venv on first use and reinstalls only when a requirements file changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REQS := requirements.txt requirements-dev.txt constraints.txt pyproject.toml
# Containers often run as root, where Jupyter refuses to start without --allow-root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
JUPYTER_ENV := JUPYTER_CONFIG_DIR=$(CURDIR)/.jupyter/config JUPYTER_DATA_DIR=$(CURDIR)/.jupyter/data

.PHONY: FORCE setup check-python lab formgrader test test-fast student student-build autograde grade-demo report similarity bench lock clean help

help:
	@echo "make setup       create .venv and install the pinned environment"
	@echo "make lab         open JupyterLab on the course (students)"
	@echo "make test        run the whole test suite (maintainers, CI)"
	@echo "make student     regenerate notebooks/ from solutions/ (nbgrader generate_assignment)"
	@echo "make student-build OUT=DIR  what students of a graded class get: no reference, no oracle"
	@echo "make autograde   grade everything under graders/submitted (instructors)"
	@echo "make formgrader  grade written answers in nbgrader's formgrader (instructors)"
	@echo "make grade-demo  grade bundled example submissions in a scratch course"
	@echo "make report      write the class report under graders/reports (instructors)"
	@echo "make similarity  write the code-similarity report under graders/reports (instructors)"
	@echo "make bench       run the benchmarks and print their figures"

setup: $(STAMP)

# The pinned environment (torch 2.13.0's CPU wheels, the lock in constraints.txt) is made for
# CPython 3.11.5 and later 3.11 releases: say so at once instead of failing deep inside pip.
# (Debian 12 ships 3.11.2, which the lock's soupsieve refuses.)
check-python:
	@v="$$($(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)"; \
	case "$$v" in 3.11.*) [ "$${v#3.11.}" -ge 5 ] 2>/dev/null && exit 0;; esac; \
	echo "make setup needs CPython 3.11.5 or a later 3.11 release; $(PYTHON) is $${v:-not a working Python}." >&2; \
	echo "Install one (pyenv install 3.11, uv python install 3.11, or conda env create -f environment.yml)" >&2; \
	echo "and run: make setup PYTHON=/path/to/python3.11" >&2; \
	exit 1

# The stamp holds the folder .venv was made for. A moved or copied checkout rebuilds .venv:
# its scripts and the editable install of course_lib still name the original folder (where
# the grading sandbox cannot see it, so that every submission would score 0).
ifneq ($(shell cat $(STAMP) 2>/dev/null),$(CURDIR))
$(STAMP): FORCE
endif

$(STAMP): $(REQS)
	@$(MAKE) --no-print-directory check-python PYTHON="$(PYTHON)"
	@old="$$(cat $(STAMP) 2>/dev/null)"; if [ -n "$$old" ] && [ "$$old" != "$(CURDIR)" ]; then \
	  echo ".venv was made for $$old: rebuilding it for $(CURDIR)"; rm -rf $(VENV); fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m course_lib.setup_jupyter
	@echo "$(CURDIR)" > $(STAMP)

FORCE:

lab: $(STAMP)
	@$(BIN)/python -m course_lib.setup_jupyter
	$(JUPYTER_ENV) $(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir=$(CURDIR) notebooks/01_gradient_descent/gradient_descent.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest tests solutions --nbval-lax --nbval-current-env -m "not slow"

student: $(STAMP)
	$(BIN)/python -m course_lib.release

# The student side of a graded class (docs/instructors.md, "Keep the grading material private").
OUT ?= build/student
student-build: $(STAMP)
	$(BIN)/python -m course_lib.student_build $(OUT)

autograde: $(STAMP)
	$(BIN)/python -m course_grader $(ARGS)

# Instructors: nbgrader's formgrader on graders/ (its gradebook, or COURSE_DB_URL's), with a
# Jupyter configuration of its own (.jupyter/instructor): `make lab` keeps it off for students.
formgrader: $(STAMP)
	$(BIN)/python -m course_grader.review.formgrader $(ARGS)

grade-demo: $(STAMP)
	$(BIN)/python -m course_grader.pipeline.demo

report: $(STAMP)
	$(BIN)/python -m course_grader.term report $(ARGS)

similarity: $(STAMP)
	$(BIN)/python -m course_grader.term similarity $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

lock: $(STAMP)
	{ sed -n '/^#/p;/^#/!q' constraints.txt; $(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^pip==' | sed 's/+cpu//'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .jupyter .pytest_cache graders/.scratch
