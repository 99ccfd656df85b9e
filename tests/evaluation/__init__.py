"""Tests of panfpn_d2.evaluation."""
