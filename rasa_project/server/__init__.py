"""What the Rasa server loads at run time beside the model (the lock store); not part of training."""
