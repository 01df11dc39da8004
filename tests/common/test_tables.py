"""Every text cell of every CSV the project writes is neutralised (common.tables)."""

import pandas as pd

from common.tables import write_csv


def test_every_text_column_is_neutralised_numbers_are_not(tmp_path):
    table = pd.DataFrame(
        {
            "team": ['=HYPERLINK("http://x","y")<script>', "plain"],
            "image_digest": ["@SUM(A1)", "sha256:ab"],
            "note": ["+1", "\tx"],
            "dice": [-0.5, 1.0],
        }
    )
    path = write_csv(table, tmp_path / "t.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert back["team"].tolist() == ["'=HYPERLINK(\"http://x\",\"y\")<script>", "plain"]
    assert back["image_digest"].tolist() == ["'@SUM(A1)", "sha256:ab"]
    assert back["note"].tolist() == ["'+1", "'\tx"]
    assert back["dice"].tolist() == [-0.5, 1.0]
