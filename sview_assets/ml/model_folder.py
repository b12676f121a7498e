"""Names of the files in an outcome's model folder (``models/<outcome>/``), shared by writer and readers."""

OUT_OF_FOLD_FILE = "out_of_fold.csv"
TRAINING_FILE = "training.json"
FINAL_MODEL_FILE = "final.keras"


def fold_model_file(fold: int) -> str:
    """File name of the model trained without fold ``fold``."""
    return f"fold_{fold}.keras"
