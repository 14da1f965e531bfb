"""xnli"""
