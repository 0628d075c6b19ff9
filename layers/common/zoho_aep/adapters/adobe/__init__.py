"""Adobe: IMS (OAuth Server-to-Server tokens) and the Experience Platform APIs."""
