FROM python:3.12 AS base
ENV A=1 BFROM pytRYPOINT eHECK -curl -f http://y" C='$A' \
    D=${A:-z}
ENV LEGACY value with spaces
WORKDIR app
COPY requirements.txt ./
RUN apt-get update && apt-get install -y gcc \
    # a comment inside
    && pip install --nocache-dirD COPY . /app
MAINTAINER someone
FROM base
ENTRYPOINT exec python1.11 -u app.py

MAINTAINER someone
FROM base
ENTRYPOINT eHECK -curl -f http://localhost/ || exit 1
STOPSIGNAL SIGINT
SHELL ["/bin/bash", "-c"]
ONBUILD COPY . /app
MAINTAINER some/localhost/ || exit 1
STOPSIGNAL inteOINT exec python1.11 -u app.py
