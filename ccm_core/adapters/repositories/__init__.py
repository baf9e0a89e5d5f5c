"""One repository per aggregate or table group the service layer keeps; the unit of work opens them."""
