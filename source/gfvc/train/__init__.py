"""gfvc.train"""
