"""Write the worked example's Excel coding sheet (coding_sheet.xlsx) next to this script.

Run: python examples/own_study/make_coding_sheet.py [folder]. The sheet looks like a real one:
a title row above the header, Finnish and English label variants, a blank cell, a free-text
comment column (personal data: never copied to the processed outputs) and one unknown code.
"""
import sys
from pathlib import Path

from openpyxl import Workbook

ROWS = [
    ["Koodauslomake / coding sheet — pilot study, coder A"],
    ["encounter_id", "coder", "eye_contact", "greeting", "smile", "comment"],
    ["ENC-000001", "A", "kyllä", "Yes", "aito", "asiakas Maija, soittaa 040 123 4567"],
    ["enc 2", "A", "ei", "K", "kohtelias", None],
    ["ENC-000003", "A", " y", "no", "ei", None],
    ["000004", "A", "TRUE", "kyllä", "2", None],
    ["ENC-000005", "A", None, "ei", "ei tietoa", "video poikki"],
    ["ENC-000006", "A", "maybe", "yes", "polite", None],
]


def main(folder: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "coding"
    for row in ROWS:
        ws.append(row)
    path = folder / "coding_sheet.xlsx"
    wb.save(path)
    return path


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent))
