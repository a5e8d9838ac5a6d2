"""gfvc.ctc"""
