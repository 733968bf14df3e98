"""One module per vendor payload format; each declares the models that speak it."""
