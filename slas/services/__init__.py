"""Write-side services of the slas app."""
