"""The certification body's side: certificates and the three-year programme, audit time (IAF MD 5 / MD 11),
client grants, the portfolio across clients and its weekly anomaly digest, public-registry facts."""
