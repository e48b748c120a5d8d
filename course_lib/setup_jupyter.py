"""Configure the virtual environment's Jupyter for students (filled in by the lab setup)."""


def main() -> None:
    pass


if __name__ == "__main__":
    main()
