"""The fusion methods by name, without importing them: the panel's choice list is read when Slicer discovers the
module, before anything runs. ``fusion.rules.RULES`` implements the rules named here (a test ties the two)."""

#: The classic pixel-level rules, in the order they are offered.
RULE_NAMES = ("average", "max", "laplacian", "gff")
#: Every method ``fuse`` and the panel offer: the shipped U-Net first, then the rules.
METHODS = ("unet", *RULE_NAMES)
