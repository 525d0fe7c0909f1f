FROM python:3.12 AS base
ENV A=1 B="x y" C='$A' \
    D=${A:-z}
ENV LEGACY value with spaces
WORKDIR app
COPY requirements.txt ./
RUN apt-get update && apt-get install -y gcc \
    # a comment inside
    && pip install --no-cache-dir -r requirements.txt
RUN pip install flask gunicorn; python -m compileall .
COPY <<EOT /etc/motd
hello
EOT
USER app
EXPOSE 8000/tcp
VOLUME ["/data"]
HEALTHCHECK --interval=5s CMD curl -f http://localhost/ || exit 1
STOPSIGNAL SIGINT
SHELL ["/bin/bash", "-c"]
ONBUILD COPY . /app
MAINTAINER someone
FROM base
ENTRYPOINT exec python3.11 -u app.py
