# app.py
import os
import sys
print("⚓ Hello from inside a secure wharf sandbox!")
print(f"Python Version running: {sys.version}")
print(f"Custom Environment Variable: {os.getenv('APP_ENV', 'Not Set')}")
