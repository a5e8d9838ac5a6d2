"""gfvc.coding"""
