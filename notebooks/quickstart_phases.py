"""The server-run example's phases; the server imports each by its `ref`.

The quickstart pipeline again, with results the server can keep as JSON
(lists of numbers, dicts and strings), so a run resumed after a server
restart finds its upstream results. Trained models stay inside their phase:
`train` returns its predictions on the test set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODELS = ("logreg", "forest", "svm")
# The server keeps results for its own use; the report also goes to a file
# beside this module, where the notebook reads it.
REPORT = Path(__file__).with_name("quickstart_report.txt")


def load() -> dict[str, list[Any]]:
    """The breast-cancer dataset that ships with scikit-learn."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return {"X": data.data.tolist(), "y": data.target.tolist()}


def split(load: dict[str, list[Any]], test_size: float = 0.25) -> dict[str, Any]:
    """A stratified train / test split."""
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        load["X"], load["y"], test_size=test_size, random_state=0, stratify=load["y"]
    )
    return {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}


def scale(split: dict[str, Any]) -> dict[str, Any]:
    """Features scaled with the training set's mean and spread."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(split["X_train"])
    return {
        "X_train": scaler.transform(split["X_train"]).tolist(),
        "X_test": scaler.transform(split["X_test"]).tolist(),
        "y_train": split["y_train"],
        "y_test": split["y_test"],
    }


def train(scale: dict[str, Any], model: str) -> list[int]:
    """Fit one model on the training set; return its test-set predictions."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    makers = {
        "logreg": lambda: LogisticRegression(max_iter=2000),
        "forest": lambda: RandomForestClassifier(n_estimators=200, random_state=0),
        "svm": lambda: SVC(C=1.0),
    }
    fitted = makers[model]().fit(scale["X_train"], scale["y_train"])
    return [int(label) for label in fitted.predict(scale["X_test"])]


def evaluate(
    scale: dict[str, Any], upstream: dict[str, Any], model: str
) -> dict[str, float]:
    """Accuracy and F1 of one model's predictions."""
    from sklearn.metrics import accuracy_score, f1_score

    predicted = upstream[f"train_{model}"]
    truth = scale["y_test"]
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1": float(f1_score(truth, predicted)),
    }


def pick_best(upstream: dict[str, Any]) -> dict[str, Any]:
    """The model with the best F1, and every model's scores."""
    scores = {pid.removeprefix("evaluate_"): score for pid, score in upstream.items()}
    best = max(scores, key=lambda name: scores[name]["f1"])
    return {"best": best, "scores": scores}


def report(pick_best: dict[str, Any]) -> str:
    """A table of the scores, best model marked, also written to REPORT."""
    lines = [f"{'model':<8} {'accuracy':>9} {'f1':>7}"]
    for name, score in sorted(pick_best["scores"].items()):
        mark = "  <- best" if name == pick_best["best"] else ""
        lines.append(f"{name:<8} {score['accuracy']:>9.3f} {score['f1']:>7.3f}{mark}")
    text = "\n".join(lines)
    REPORT.write_text(text + "\n", encoding="utf-8")
    return text
