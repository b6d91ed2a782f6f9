"""PyTorch reference implementation of metarec's backbones and training protocol.

Run with Debian's /usr/bin/python3 (torch 1.13, OpenBLAS). See README.md.
"""
