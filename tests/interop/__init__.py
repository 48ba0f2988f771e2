"""Run the Express twin (server.js) and the Python twin (python_app.py) side by side."""
