"""gfvc.evaluation"""
