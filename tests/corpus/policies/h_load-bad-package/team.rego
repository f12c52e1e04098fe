package 9team
