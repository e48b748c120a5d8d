"""``python -m course_grader.term collect``: a Canvas and a Moodle download (on time, late,
resubmitted, renamed, doubled, zipped, unknown, missing, unsafe) into ``submitted/``, with the
report naming every student and every odd file."""
from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from term.term_course import make_course, make_zip, tree

from course_grader.term import canvas, moodle
from course_grader.term.__main__ import main
from course_grader.term.lms_zip import read_entries, read_member

CANVAS_ROSTER = [
    {"student_id": "ada", "name": "Ada Adams", "email": "ada@example.org", "lms_id": "1001", "section": "A"},
    {"student_id": "george", "name": "George Boole", "email": "george@example.org", "lms_id": "1002", "section": "A"},
    {"student_id": "marie", "name": "Marie Curie", "email": "marie@example.org", "lms_id": "1003", "section": "B"},
    {"student_id": "paul", "name": "Paul Dirac", "email": "paul@example.org", "lms_id": "1004", "section": "B"},
    {"student_id": "leo", "name": "Leo Euler", "email": "leo@example.org", "lms_id": "1005", "section": "B"},
    {"student_id": "pierre", "name": "Pierre Fermat", "email": "pierre@example.org", "lms_id": "1006", "section": "B"},
    {"student_id": "carl", "name": "Carl Gauss", "email": "carl@example.org", "lms_id": "1007", "section": "B"},
    {"student_id": "grace", "name": "Grace Hopper", "email": "grace@example.org", "lms_id": "1008", "section": "A"},
]
CANVAS_FILES = {
    "adamsada_1001_5001_adam.ipynb": b'{"who": "ada"}',
    "boolegeorge_late_1002_5002_adam.ipynb": b'{"who": "george, late"}',
    "curiemarie_1003_5003_adam-1.ipynb": b'{"who": "marie, resubmitted"}',
    "diracpaul_1004_5004_my_adam_final.ipynb": b'{"who": "paul, renamed"}',
    "eulerleo_1005_5005_adam.ipynb": b'{"who": "leo"}',
    "eulerleo_1005_5006_adam_old.ipynb": b'{"who": "leo, old"}',
    "fermatpierre_1006_5007_a.ipynb": b'{"who": "pierre a"}',
    "fermatpierre_1006_5008_b.ipynb": b'{"who": "pierre b"}',
    "gausscarl_1007_5009_work.zip": b"PK...",
    "hackerjoe_9999_5010_adam.ipynb": b'{"who": "not in roster"}',
    "../../escape_1001_5012_adam.ipynb": b'{"who": "zip slip"}',
    "README.txt": b"not a submission",
}
CANVAS_LINKS = {"adamsada_1001_5011_link.ipynb": "/etc/passwd"}
COMMAND = ["collect", "02_adam", "--from"]

CANVAS_REPORT = """\
collect 02_adam from a Canvas download:
  collected       ada [1001] Ada Adams <- adamsada_1001_5001_adam.ipynb
      refused: link.ipynb: a symbolic link: not followed
  collected       george [1002] George Boole <- boolegeorge_late_1002_5002_adam.ipynb
      marked late by the LMS
  collected       marie [1003] Marie Curie <- curiemarie_1003_5003_adam-1.ipynb
      adam-1.ipynb is the LMS's name for a resubmitted adam.ipynb: collected as adam.ipynb
  collected       paul [1004] Paul Dirac <- diracpaul_1004_5004_my_adam_final.ipynb
      renamed notebook: my_adam_final.ipynb collected as adam.ipynb
  collected       leo [1005] Leo Euler <- eulerleo_1005_5005_adam.ipynb
      2 notebooks: took adam.ipynb, not adam_old.ipynb
  not_collected   pierre [1006] Pierre Fermat
      2 notebooks (a.ipynb, b.ipynb): none collected; copy the right one to its folder as adam.ipynb by hand
  not_collected   carl [1007] Carl Gauss
      a zip inside the zip, not unpacked: work.zip
  missing         grace [1008] Grace Hopper
  unknown_student (not in roster) [9999] hackerjoe
      not in the roster, not collected: adam.ipynb
  not a Canvas file name, ignored: README.txt
  refused: ../../escape_1001_5012_adam.ipynb: a path leaving the folder ('..'): refused
5 collected, 2 not collected (see notes), 1 missing, 1 not in the roster"""


@pytest.fixture(scope="module")
def canvas_run(tmp_path_factory):
    """The Canvas download collected once, by the command docs/instructors.md gives."""
    tmp = tmp_path_factory.mktemp("canvas")
    graders = make_course(tmp, CANVAS_ROSTER)
    zip_path = make_zip(tmp / "submissions.zip", CANVAS_FILES, CANVAS_LINKS)
    done = subprocess.run([sys.executable, "-m", "course_grader.term", *COMMAND, str(zip_path)],
                          check=False, cwd=tmp, capture_output=True, text=True, timeout=120)
    return graders, done


def test_canvas_download_fills_submitted(canvas_run):
    graders, done = canvas_run
    assert done.returncode == 0, done.stderr
    assert tree(graders / "submitted") == {
        "ada/02_adam/adam.ipynb": b'{"who": "ada"}',
        "george/02_adam/adam.ipynb": b'{"who": "george, late"}',
        "marie/02_adam/adam.ipynb": b'{"who": "marie, resubmitted"}',
        "paul/02_adam/adam.ipynb": b'{"who": "paul, renamed"}',
        "leo/02_adam/adam.ipynb": b'{"who": "leo"}',
    }
    assert not (graders.parent / "escape_1001_5012_adam.ipynb").exists()


def test_canvas_report_names_every_student_and_odd_file(canvas_run):
    assert canvas_run[1].stdout.rstrip("\n") == CANVAS_REPORT


MOODLE_ROSTER = [
    {"student_id": "ada", "name": "Ada Adams", "email": "ada@example.org", "lms_id": "2001", "section": ""},
    {"student_id": "george", "name": "George Boole", "email": "george@example.org", "lms_id": "2002", "section": ""},
    {"student_id": "marie", "name": "Marie Curie", "email": "marie@example.org", "lms_id": "2003", "section": ""},
    {"student_id": "paul", "name": "Paul Dirac", "email": "paul@example.org", "lms_id": "2004", "section": ""},
    {"student_id": "leo", "name": "Leo Euler", "email": "leo@example.org", "lms_id": "2005", "section": ""},
    {"student_id": "carl", "name": "Carl Gauss", "email": "carl@example.org", "lms_id": "2007", "section": ""},
]
MOODLE_FILES = {
    "Ada Adams_2001_assignsubmission_file/adam.ipynb": b'{"who": "ada"}',  # Moodle 4
    "George Boole_2002_assignsubmission_file_/Adam (1).ipynb": b'{"who": "george, renamed"}',
    "Paul Dirac_2004_assignsubmission_file_/adam.ipynb": b'{"who": "paul"}',
    "Paul Dirac_2004_assignsubmission_file_/old/adam_v1.ipynb": b'{"who": "paul, old"}',
    "Leo Euler_2005_assignsubmission_onlinetext/onlinetext.html": b"<p>see attachment</p>",
    "Carl Gauss_2007_assignsubmission_file_adam.ipynb": b'{"who": "carl, flat"}',
    "Joe Hacker_2999_assignsubmission_file_/adam.ipynb": b'{"who": "not in roster"}',
    "/etc/cron.d/x_2001_assignsubmission_file_/adam.ipynb": b'{"who": "absolute"}',
}
MOODLE_REPORT = """\
collect 02_adam from a Moodle download:
  collected       ada [2001] Ada Adams <- Ada Adams_2001_assignsubmission_file/adam.ipynb
  collected       george [2002] George Boole <- George Boole_2002_assignsubmission_file_/Adam (1).ipynb
      renamed notebook: Adam (1).ipynb collected as adam.ipynb
  missing         marie [2003] Marie Curie
  collected       paul [2004] Paul Dirac <- Paul Dirac_2004_assignsubmission_file_/adam.ipynb
      2 notebooks: took adam.ipynb, not old/adam_v1.ipynb
  not_collected   leo [2005] Leo Euler
      not a notebook, not collected: onlinetext:onlinetext.html
  collected       carl [2007] Carl Gauss <- Carl Gauss_2007_assignsubmission_file_adam.ipynb
  unknown_student (not in roster) [2999] Joe Hacker
      not in the roster, not collected: adam.ipynb
  refused: /etc/cron.d/x_2001_assignsubmission_file_/adam.ipynb: an absolute or Windows path: refused
4 collected, 1 not collected (see notes), 1 missing, 1 not in the roster"""


def test_moodle_download_fills_submitted(tmp_path, monkeypatch, capsys):
    graders = make_course(tmp_path, MOODLE_ROSTER)
    zip_path = make_zip(tmp_path / "moodle.zip", MOODLE_FILES)
    monkeypatch.chdir(tmp_path)
    report_csv = tmp_path / "report.csv"
    assert main([*COMMAND, str(zip_path), "--report", str(report_csv)]) == 0
    assert capsys.readouterr().out.rstrip("\n") == MOODLE_REPORT
    assert tree(graders / "submitted") == {
        "ada/02_adam/adam.ipynb": b'{"who": "ada"}',
        "george/02_adam/adam.ipynb": b'{"who": "george, renamed"}',
        "paul/02_adam/adam.ipynb": b'{"who": "paul"}',
        "carl/02_adam/adam.ipynb": b'{"who": "carl, flat"}',
    }
    lines = report_csv.read_text().splitlines()
    assert lines[0] == "student_id,lms_id,name,status,collected_from,notes"
    assert lines[3] == "marie,2003,Marie Curie,missing,,"
    # a second collection of the same download changes nothing and replaces nothing
    assert main([*COMMAND, str(zip_path)]) == 0
    assert "replaced" not in capsys.readouterr().out


def test_recollection_replaces_an_earlier_notebook_not_through_links(tmp_path, monkeypatch, capsys):
    graders = make_course(tmp_path, MOODLE_ROSTER[:2])
    monkeypatch.chdir(tmp_path)
    first = make_zip(tmp_path / "first.zip", {"Ada Adams_2001_assignsubmission_file_/adam.ipynb": b"1"})
    second = make_zip(tmp_path / "second.zip", {"Ada Adams_2001_assignsubmission_file_/adam.ipynb": b"2",
                                                "George Boole_2002_assignsubmission_file_/adam.ipynb": b"3"})
    assert main([*COMMAND, str(first)]) == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    (graders / "submitted" / "george").symlink_to(outside)
    capsys.readouterr()
    assert main([*COMMAND, str(second)]) == 0
    out = capsys.readouterr().out
    assert "replaced a different notebook collected before" in out
    assert "not collected:" in out and "is a link or not a folder" in out
    assert (graders / "submitted" / "ada" / "02_adam" / "adam.ipynb").read_bytes() == b"2"
    assert list(outside.iterdir()) == []


def test_bad_arguments_are_refused_with_the_allowed_values(tmp_path, monkeypatch, capsys):
    make_course(tmp_path, MOODLE_ROSTER)
    monkeypatch.chdir(tmp_path)
    zip_path = make_zip(tmp_path / "x.zip", {"notes.txt": b"x"})
    assert main(["collect", "99_nope", "--from", str(zip_path)]) == 2
    assert "assignment='99_nope' is not an assignment of the course; allowed: ['01_gradient_descent', '02_adam']" \
        in capsys.readouterr().err
    assert main(["collect", "../notebooks/02_adam", "--from", str(zip_path)]) == 2
    assert "assignment='../notebooks/02_adam' is not an assignment of the course" in capsys.readouterr().err
    assert main([*COMMAND, str(zip_path)]) == 2
    assert "no entry of the zip is named as a Canvas or a Moodle submission file" in capsys.readouterr().err
    assert main([*COMMAND, str(zip_path), "--max-notebook-mb", "0"]) == 2
    assert "--max-notebook-mb=0 is not allowed: it must be more than 0" in capsys.readouterr().err
    (tmp_path / "notazip.zip").write_text("hello")
    assert main([*COMMAND, str(tmp_path / "notazip.zip")]) == 2
    assert "cannot be read as a zip file" in capsys.readouterr().err


def test_oversized_entries_are_refused_whatever_the_header_says(tmp_path):
    zip_path = make_zip(tmp_path / "big.zip", {"a_1_2_adam.ipynb": b"x" * 5000, "b_3_4_adam.ipynb": b"{}"})
    entries, refused = read_entries(zip_path, max_bytes=1000)
    assert [e.name for e in entries] == ["b_3_4_adam.ipynb"]
    assert refused[0].name == "a_1_2_adam.ipynb" and "over the limit of 1000" in refused[0].why
    # a header that understates the size does not make read_member read past its limit
    with zipfile.ZipFile(zip_path) as archive:
        name = archive.infolist()[0].filename
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        read_member(zip_path, name, max_bytes=1000)


@pytest.mark.parametrize("entry, expected", [
    ("smithjohn_12345_67890_adam.ipynb", ("12345", "smithjohn", "adam.ipynb", False)),
    ("smithjohn_late_12345_67890_adam.ipynb", ("12345", "smithjohn", "adam.ipynb", True)),
    ("smithjohn_LATE_12345_67890_my_adam.ipynb", ("12345", "smithjohn", "my_adam.ipynb", True)),
    ("late_12345_67890_adam.ipynb", ("12345", "", "adam.ipynb", True)),  # anonymous grading
    ("12345_67890_adam.ipynb", ("12345", "", "adam.ipynb", False)),
    ("smith--john-late_12345_67890_adam.ipynb", ("12345", "smith--john", "adam.ipynb", True)),  # older Canvas
    ("o_brien_12345_67890_adam_2_3.ipynb", ("12345", "o_brien", "adam_2_3.ipynb", False)),
    ("smithjohn_12345_text.html", ("12345", "smithjohn", "online:text.html", False)),
    ("smithjohn_12345_adam.ipynb", None),
])
def test_canvas_names(entry, expected):
    upload = canvas.parse_entry(entry)
    assert (upload and (upload.lms_id, upload.lms_name, upload.filename, upload.late)) == expected


@pytest.mark.parametrize("entry, expected", [
    ("John Smith_1234567_assignsubmission_file/adam.ipynb", ("1234567", "John Smith", "adam.ipynb")),
    ("John Smith_1234567_assignsubmission_file_/adam.ipynb", ("1234567", "John Smith", "adam.ipynb")),
    ("Participant_1234567_assignsubmission_file/adam.ipynb", ("1234567", "Participant", "adam.ipynb")),
    ("John Smith_1234567_assignsubmission_file_adam.ipynb", ("1234567", "John Smith", "adam.ipynb")),
    ("Jo Ann Lee_77_assignsubmission_file/sub/adam.ipynb", ("77", "Jo Ann Lee", "sub/adam.ipynb")),
    ("John Smith_1234567_assignsubmission_onlinetext/onlinetext.html",
     ("1234567", "John Smith", "onlinetext:onlinetext.html")),
    ("adam.ipynb", None),
])
def test_moodle_names(entry, expected):
    upload = moodle.parse_entry(entry)
    assert (upload and (upload.lms_id, upload.lms_name, upload.filename)) == expected


def test_times_become_timestamps_and_bad_times_are_refused(tmp_path, monkeypatch, capsys):
    graders = make_course(tmp_path, MOODLE_ROSTER[:2])
    monkeypatch.chdir(tmp_path)
    download = make_zip(tmp_path / "m.zip", {"Ada Adams_2001_assignsubmission_file/adam.ipynb": b"1",
                                             "George Boole_2002_assignsubmission_file/adam.ipynb": b"2"})
    times = tmp_path / "times.csv"
    times.write_text("Full name,lms_id,submitted_at\nAda Adams,2001,2026-10-13T08:15:00+02:00\n"
                     "George Boole,2002,2026-10-12T23:00:00Z\n")
    assert main([*COMMAND, str(download), "--times", str(times)]) == 0
    assert "submitted at 2026-10-13 06:15 UTC" in capsys.readouterr().out
    folder = graders / "submitted"
    assert (folder / "ada" / "02_adam" / "timestamp.txt").read_text() == "2026-10-13 06:15:00.000000 UTC"
    assert (folder / "george" / "02_adam" / "timestamp.txt").read_text() == "2026-10-12 23:00:00.000000 UTC"
    # a later list without george's time: his older timestamp.txt goes, he counts as on time
    times.write_text("lms_id,submitted_at\n2001,2026-10-13 06:15Z\n2002,\n")
    assert main([*COMMAND, str(download), "--times", str(times)]) == 0
    assert "no submission time in --times: counted on time" in capsys.readouterr().out
    assert not (folder / "george" / "02_adam" / "timestamp.txt").exists()
    for text, message in [("lms_id,when\n", "lacks the columns ['submitted_at']"),
                          ("lms_id,submitted_at\n2001,2026-10-13 08:15\n",
                           "line 2: submitted_at='2026-10-13 08:15' is not allowed; allowed: ISO 8601 with a UTC offset"),
                          ("lms_id,submitted_at\n2001,13/10/2026\n", "submitted_at='13/10/2026' is not allowed"),
                          ("lms_id,submitted_at\n2001,2026-10-13T08:15Z\n2001,2026-10-13T09:15Z\n",
                           "line 3: lms_id='2001' is given twice")]:
        times.write_text(text)
        assert main([*COMMAND, str(download), "--times", str(times)]) == 2
        assert message in capsys.readouterr().err
