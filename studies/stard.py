"""Which STARD 2015 items a SpineRead study report covers, and where; the others are the authors' to write.

STARD 2015: Bossuyt PM, Reitsma JB, Bruns DE, et al. STARD 2015: an updated list of essential items for reporting
diagnostic accuracy studies. BMJ 2015;351:h5527. doi:10.1136/bmj.h5527
"""
from __future__ import annotations

# (item, what it asks for, where the report answers it; "" where it cannot: the authors write it)
STARD_ITEMS = (
    ("1", "Identification as a study of diagnostic accuracy", ""),
    ("2", "Structured summary", ""),
    ("3", "Scientific and clinical background, intended use of the index test", ""),
    ("4", "Study objectives and hypotheses", ""),
    ("5", "Prospective or retrospective data collection", ""),
    ("6", "Eligibility criteria", ""),
    ("7", "On what basis potentially eligible participants were identified", ""),
    ("8", "Setting, location and dates", ""),
    ("9", "Consecutive, random or convenience series", ""),
    ("10a", "Index test in enough detail to replicate", "Design table: arms, pinned model version, washout, "
                                                        "repeat share; readers and their experience"),
    ("10b", "Reference standard in enough detail to replicate", "Flow: two blind reads per case, agreement as "
                                                                 "truth, a senior's adjudication otherwise"),
    ("11", "Rationale for the reference standard", ""),
    ("12a", "Positivity cut-offs of the index test", "Design table: positive from, per finding"),
    ("12b", "Positivity cut-offs of the reference standard", "Design table: the same cut-offs apply to the truth"),
    ("13a", "Information available to the index-test readers", "Readers are blind to the reference standard, to "
                                                               "each other and, unaided, to the model (enforced "
                                                               "by the platform)"),
    ("13b", "Information available to the reference-standard assessors", ""),
    ("14", "Methods for estimating or comparing accuracy", "Each table's title names its method; MRMC: "
                                                           "Obuchowski-Rockette with Hillis' df"),
    ("15", "Handling of indeterminate results", ""),
    ("16", "Handling of missing data", "Flow: excluded cases and reads; every row's n counts the units scored"),
    ("17", "Analyses of variability", "Per level, per reader, inter- and intra-reader agreement tables"),
    ("18", "Intended sample size and how it was determined", ""),
    ("19", "Flow of participants (diagram)", "Flow of cases and reads"),
    ("20", "Baseline characteristics of participants", ""),
    ("21a", "Distribution of severity in those with the target condition", "Confusion tables: truth by grade"),
    ("21b", "Distribution of alternative diagnoses in those without it", ""),
    ("22", "Time between index test and reference standard", ""),
    ("23", "Cross tabulation of index test by reference standard", "Confusion tables"),
    ("24", "Estimates of accuracy and their precision", "Accuracy table: 95% CIs, patient bootstrap on "
                                                        "pooled discs; MRMC table"),
    ("25", "Adverse events", ""),
    ("26", "Limitations", ""),
    ("27", "Implications for practice", ""),
    ("28", "Registration", ""),
    ("29", "Where the protocol can be accessed", ""),
    ("30", "Funding", ""),
)


def stard_rows() -> list[dict]:
    return [{"item": item, "topic": topic, "covered": bool(where), "where": where or "authors to report"}
            for item, topic, where in STARD_ITEMS]
