"""Referrals made at a follow-up, received and answered by the receiving institution."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("referrals", __name__, description="转诊：转出、接收、回转结果")
