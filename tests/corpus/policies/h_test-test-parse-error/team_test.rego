package team.h_test

test_x if {
