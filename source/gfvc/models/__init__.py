"""gfvc.models"""
