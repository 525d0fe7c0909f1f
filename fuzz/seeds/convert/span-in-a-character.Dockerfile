FROM python:3.12 AS base
ENV A=1 B="x y" C='$AV OPY requirements.txt ."""UN apt-get update ="x y" C='$A' \
    D=${A:-z}
ENV LEon:3612 AS base
ENV A=1 B="xc \
    # a眐