# Reads two integers and prints their sum.
import sys

a, b = map(int, sys.stdin.read().split())
print(a + b)
