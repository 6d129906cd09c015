import sys

print("loading rows")
print("boom: the source refused the connection")
sys.exit(3)
