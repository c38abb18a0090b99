"""The catalog over HTTP: products, prices, deliverables, hub displays, coupons and H/catalog."""
