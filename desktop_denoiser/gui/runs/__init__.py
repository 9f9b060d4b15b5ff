"""The Runs view: every recorded training in a sortable table, their loss curves overlaid (View › Runs)."""
