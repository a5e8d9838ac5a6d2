"""gfvc.bitstream"""
