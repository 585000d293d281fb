"""What both networks share (torch): TorchScript loading with hash and signature checks, training helpers."""
