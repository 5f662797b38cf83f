"""The explorer page (issue 14) in a real browser: headless Chromium through selenium."""
