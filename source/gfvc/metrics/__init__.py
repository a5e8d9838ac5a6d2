"""gfvc.metrics"""
