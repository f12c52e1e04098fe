package team.h
