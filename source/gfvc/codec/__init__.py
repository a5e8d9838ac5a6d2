"""gfvc.codec"""
