"""The sandbox provider's views, one module per part of Euler Stream."""
