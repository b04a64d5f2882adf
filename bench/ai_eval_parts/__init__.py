"""What only `bench/ai_eval.py` needs: the labelled cases, their replay, the measurements."""
