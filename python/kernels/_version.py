"""The package version: the same as the .NET packages' (Directory.Build.props) and the C ABI's (a test checks all three)."""
__version__ = "0.1.0"
