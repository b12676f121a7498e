"""Names of the files in an outcome's model folder (``models/<outcome>/``), shared by writer and readers, and the reader of its out-of-fold table."""

from pathlib import Path

import pandas as pd

OUT_OF_FOLD_FILE = "out_of_fold.csv"
TRAINING_FILE = "training.json"
FINAL_MODEL_FILE = "final.keras"


def fold_model_file(fold: int) -> str:
    """File name of the model trained without fold ``fold``."""
    return f"fold_{fold}.keras"


def read_out_of_fold(model_dir: Path, label: str) -> pd.DataFrame:
    """The out-of-fold table the model stage wrote into ``model_dir`` (``label`` names the model asset in the error)."""
    path = model_dir / OUT_OF_FOLD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; materialize {label} first.")
    frame = pd.read_csv(path, dtype={"pcd": str, "lsoa11": str})
    # A location without a postcode (a city without a postcode directory) has an empty one, not a missing value.
    return frame.assign(pcd=frame["pcd"].fillna(""))
