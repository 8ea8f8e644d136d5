"""The staff console under `/admin/`: sign-in (`auth`) and the pages ops and auditors use."""
