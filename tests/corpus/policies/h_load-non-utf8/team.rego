package team.h
# ÿş
