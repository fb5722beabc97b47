"""Bulk import of the records a county already has, from the .xlsx and .csv files its systems export."""
