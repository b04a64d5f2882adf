"""Write-side business logic of the orders app."""
