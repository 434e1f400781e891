"""The dataset-learner wing: tasks made from datasets (``tasks``), the learners that learn on
them (``learners``) and their meta-training and meta-testing (``meta``)."""
