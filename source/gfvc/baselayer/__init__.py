"""gfvc.baselayer"""
