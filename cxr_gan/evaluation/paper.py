"""The paper's published numbers, in one place (Kora Venu & Ravula 2021, Tables 1-3).

Only values we can vouch for are here. ``TABLE_2_COUNTS`` holds confusion counts on the
paper's 1172-image pooled test set (positive class PNEUMONIA); the flip row is derived, not
printed: its printed FPR (0.098, shown truncated as 0.09), its "AUC" 93.4 and the paper's
statement that GAN and flip differ by 7 of 1172 images admit only TN 286, FP 31, FN 29, TP 826.
``TABLE_1_PRINTED`` holds the percentages as printed (None where not transcribed here).
"""

TABLE_2_COUNTS = {
    "gan": {"tn": 284, "fp": 33, "fn": 20, "tp": 835, "source": "printed (Table 2)"},
    "flip": {"tn": 286, "fp": 31, "fn": 29, "tp": 826,
             "source": "derived from printed FPR 0.098, AUC 93.4 and the 7-image gap to GAN"},
}

# As printed: accuracy, precision, recall, F1 and "AUC" in percent; FPR and TPR as fractions.
TABLE_1_PRINTED = {
    "gan": {"accuracy": 95.5, "precision": 96.2, "recall": 97.7, "f1": 97.0,
            "auc_thresholded": 93.6, "fpr": 0.10, "tpr": 0.977},
    "flip": {"accuracy": None, "precision": None, "recall": None, "f1": None,
             "auc_thresholded": 93.4, "fpr": 0.09, "tpr": None},
    "contrast": {"accuracy": None, "precision": None, "recall": None, "f1": None,
                 "auc_thresholded": 92.8, "fpr": None, "tpr": None},
}

# Table 3 context: Kermany et al. (2018), transfer learning on the official test set.
TABLE_3_CONTEXT = {"Kermany et al. 2018": {"accuracy": 92.8, "sensitivity": 93.2,
                                           "specificity": 90.1}}
