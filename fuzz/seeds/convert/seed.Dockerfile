# 1. Start from an official lightweight Python image base
FROM python:3.11-slim
# 2. Set the internal working directory inside the container
WORKDIR /app
# 3. Copy our local application code into the container's working directory
COPY app.py .
# 4. Define an environment variable default
ENV APP_ENV=Production
# 5. Specify the command that executes when the container launches
CMD ["python", "app.py"]
